package main

import (
	"net/http"

	"github.com/change66/logserver/logingest/console"
)

// consolePath is where logserver serves the web console when CONSOLE_ENABLED is true.
const consolePath = "/ui/"

// withConsole serves the web console under consolePath next to api, and redirects GET / to it. Every other
// path goes to api unchanged.
func withConsole(api http.Handler) (http.Handler, error) {
	c, err := console.New(nil)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(consolePath, http.StripPrefix(consolePath[:len(consolePath)-1], c))
	mux.Handle("GET /{$}", http.RedirectHandler(consolePath, http.StatusFound))
	mux.Handle("/", api)
	return mux, nil
}

// consoleHint is the first-start line that points to the console, empty when it is turned off.
func consoleHint(cfg config, baseURL string) string {
	if !cfg.ConsoleEnabled {
		return ""
	}
	return "\nOr open the web console at " + baseURL + consolePath + " and paste the key to sign in.\n"
}
