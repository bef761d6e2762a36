// zkauth: go-zookeeper (Debian's golang-github-samuel-go-zookeeper-dev) against one server.
// It adds digest auth, creates a node readable only by that digest id, reads it back, and
// checks that a session without the id is refused. Prints one line per step; exits non-zero
// on the first unexpected answer. Run by tests/tests/client_libraries.rs.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/samuel/go-zookeeper/zk"
)

type quiet struct{}

func (quiet) Printf(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "go-zookeeper: "+format+"\n", a...)
}

func fail(step string, err error) {
	fmt.Printf("FAIL %s: %v\n", step, err)
	os.Exit(1)
}

// within runs f, failing the step if it does not return in time (AddAuth never returned
// when the server answered auth with xid -4).
func within(step string, f func() error) {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err != nil {
			fail(step, err)
		}
	case <-time.After(10 * time.Second):
		fail(step, fmt.Errorf("no answer within 10 s"))
	}
	fmt.Printf("ok %s\n", step)
}

func main() {
	server, path := os.Args[1], os.Args[2]
	c, _, err := zk.Connect([]string{server}, 10*time.Second, zk.WithLogger(quiet{}))
	if err != nil {
		fail("connect", err)
	}
	defer c.Close()
	within("addauth digest u:pw", func() error { return c.AddAuth("digest", []byte("u:pw")) })
	within("create with digest ACL", func() error {
		_, err := c.Create(path, []byte("secret"), 0, zk.DigestACL(zk.PermAll, "u", "pw"))
		return err
	})
	within("get", func() error {
		data, _, err := c.Get(path)
		if err == nil && string(data) != "secret" {
			err = fmt.Errorf("data %q", data)
		}
		return err
	})
	d, _, err := zk.Connect([]string{server}, 10*time.Second, zk.WithLogger(quiet{}))
	if err != nil {
		fail("connect d", err)
	}
	defer d.Close()
	within("get without the id: NoAuth", func() error {
		_, _, err := d.Get(path)
		if err != zk.ErrNoAuth {
			return fmt.Errorf("want ErrNoAuth, got %v", err)
		}
		return nil
	})
	within("addauth digest u:pw on the second session", func() error { return d.AddAuth("digest", []byte("u:pw")) })
	within("get with the id", func() error {
		_, _, err := d.Get(path)
		return err
	})
	fmt.Println("done")
}
