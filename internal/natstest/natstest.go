// Package natstest starts real nats-server processes with JetStream for tests: one server, or a cluster on
// loopback, each node with its own free ports and temporary store directory, stopped when the test ends.
//
// The binary is NATS_SERVER_BIN, else nats-server on PATH, else /usr/sbin/nats-server (the Debian package). A
// missing binary fails the test (install it: apt-get install -y nats-server); it is never skipped.
package natstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Node is one nats-server process.
type Node struct {
	Name string
	URL  string // nats://127.0.0.1:port
	cmd  *exec.Cmd
	done chan struct{}
}

// Cluster is a set of nodes forming one JetStream cluster (or a single server).
type Cluster struct {
	Nodes []*Node
}

// URLs returns every node's client URL, comma-separated, as nats.Connect accepts.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		urls[i] = n.URL
	}
	return strings.Join(urls, ",")
}

// Kill sends SIGKILL to node i (kill -9) and waits for the process to exit.
func (c *Cluster) Kill(tb testing.TB, i int) {
	tb.Helper()
	n := c.Nodes[i]
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		tb.Fatalf("natstest: node %s did not exit after SIGKILL", n.Name)
	}
}

// Binary returns the nats-server binary to run, failing tb when there is none.
func Binary(tb testing.TB) string {
	tb.Helper()
	if b := os.Getenv("NATS_SERVER_BIN"); b != "" {
		return b
	}
	if b, err := exec.LookPath("nats-server"); err == nil {
		return b
	}
	if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server"
	}
	tb.Fatal("natstest: nats-server not found (set NATS_SERVER_BIN or apt-get install -y nats-server)")
	return ""
}

// Start starts n nats-server processes with JetStream (a cluster when n > 1) and waits, up to 30 s, until
// JetStream answers on every node. They are killed and their directories removed when tb ends.
func Start(tb testing.TB, n int) *Cluster {
	tb.Helper()
	bin := Binary(tb)
	dir := tb.TempDir()
	clientPorts, routePorts := freePorts(tb, n), freePorts(tb, n)
	c := &Cluster{}
	for i := range n {
		name := fmt.Sprintf("n%d", i)
		var conf strings.Builder
		fmt.Fprintf(&conf, "server_name: %s\nlisten: 127.0.0.1:%d\n", name, clientPorts[i])
		fmt.Fprintf(&conf, "jetstream {\n  store_dir: %q\n  max_memory_store: 64MB\n  max_file_store: 2GB\n}\n", filepath.Join(dir, name))
		if n > 1 {
			var routes []string
			for j := range n {
				if j != i {
					routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", routePorts[j]))
				}
			}
			fmt.Fprintf(&conf, "cluster {\n  name: natstest\n  listen: 127.0.0.1:%d\n  routes: [%s]\n}\n", routePorts[i], strings.Join(routes, ", "))
		}
		confPath := filepath.Join(dir, name+".conf")
		if err := os.WriteFile(confPath, []byte(conf.String()), 0o600); err != nil {
			tb.Fatal(err)
		}
		logf, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			tb.Fatal(err)
		}
		cmd := exec.CommandContext(context.Background(), bin, "-c", confPath) // lives until the cleanup kills it
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			tb.Fatalf("natstest: start %s: %v", bin, err)
		}
		node := &Node{Name: name, URL: fmt.Sprintf("nats://127.0.0.1:%d", clientPorts[i]), cmd: cmd, done: make(chan struct{})}
		go func() { _ = cmd.Wait(); _ = logf.Close(); close(node.done) }()
		c.Nodes = append(c.Nodes, node)
		tb.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-node.done
			if tb.Failed() {
				if b, err := os.ReadFile(logf.Name()); err == nil {
					tb.Logf("natstest: %s log (tail):\n%s", name, tail(string(b), 3000))
				}
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, node := range c.Nodes {
		if err := waitJetStream(ctx, node.URL); err != nil {
			tb.Fatalf("natstest: node %s not ready: %v", node.Name, err)
		}
	}
	return c
}

// waitJetStream polls url until the JetStream API answers (in a cluster: a meta leader is elected).
func waitJetStream(ctx context.Context, url string) error {
	var last error
	for {
		nc, err := nats.Connect(url, nats.Timeout(time.Second))
		if err == nil {
			js, jerr := jetstream.New(nc)
			if jerr == nil {
				actx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_, err = js.AccountInfo(actx)
				cancel()
			} else {
				err = jerr
			}
			nc.Close()
			if err == nil {
				return nil
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(tb testing.TB, n int) []int {
	tb.Helper()
	ports := make([]int, n)
	lns := make([]net.Listener, 0, n)
	for i := range n {
		ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		lns = append(lns, ln)
		addr, ok := ln.Addr().(*net.TCPAddr)
		if !ok {
			tb.Fatalf("natstest: listener address %v is not TCP", ln.Addr())
		}
		ports[i] = addr.Port
	}
	for _, ln := range lns {
		_ = ln.Close()
	}
	return ports
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
