package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/change66/logserver/logingest/console"
)

// ExampleNew mounts the console under /ui/ next to an API, the way cmd/logserver does.
func ExampleNew() {
	c, err := console.New(nil) // the API at /api/v1 on the same origin
	if err != nil {
		panic(err)
	}
	api := http.NotFoundHandler() // an *httpapi.Handler in a real server
	mux := http.NewServeMux()
	mux.Handle("/ui/", http.StripPrefix("/ui", c))
	mux.Handle("/", api)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+"/ui/", nil)
	if err != nil {
		panic(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Content-Type"))
	// Output:
	// 200 text/html; charset=utf-8
}
