// go_echo: the Go echo server weft is measured against, written the way Go is meant to be
// written: a goroutine per connection that reads into its own 16 KiB buffer and writes back
// everything it read, blocking calls throughout; the runtime's netpoller (epoll) parks the
// goroutine whenever a socket is not ready. It is the model weft offers in C++, so the two
// differ only in how they run it.
//
//	go_echo [--port P] [--address A]   (defaults 0 and 127.0.0.1; port 0 lets the kernel pick)
//
// It follows bench/README.md's echo server contract: one line "listening on ADDR:PORT" on
// stdout once it listens, exit status 0 on SIGTERM or SIGINT.
//
// Tuning, as for the C++ references: only what a careful Go programmer would do, which here is
// nothing beyond the standard library's defaults. net sets TCP_NODELAY on every connection (as
// the other servers do by hand); the os package raises the soft RLIMIT_NOFILE to the hard limit
// at start (Go 1.19 and later); GOGC keeps its default. GOMAXPROCS is left to the runtime,
// which counts the CPUs in the process's affinity mask: echo_bench.sh pins the server to CPU 0
// with taskset, so GOMAXPROCS is 1 there, as weft gets one carrier. (The runtime still has its
// own threads, sysmon and the garbage collector's; pinned, they share CPU 0 with the rest.)
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// bufBytes is each connection's buffer: one read takes at most this much.
const bufBytes = 16 << 10

func main() {
	fs := flag.NewFlagSet("go_echo", flag.ContinueOnError)
	port := fs.Int("port", 0, "TCP port to listen on (0: the kernel picks one)")
	address := fs.String("address", "127.0.0.1", "IPv4 address to listen on")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if fs.NArg() != 0 || *port < 0 || *port > 65535 {
		fmt.Fprintln(os.Stderr, "usage: go_echo [--port P] [--address A]")
		os.Exit(2)
	}

	// Signals are caught before the listener exists so that a SIGTERM sent right after the
	// "listening on" line cannot kill the process with a non-zero status. Notify also undoes
	// the SIG_IGN a non-interactive shell gives SIGINT in background jobs.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)

	ln, err := net.Listen("tcp4", net.JoinHostPort(*address, strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_echo:", err)
		os.Exit(1)
	}
	addr := ln.Addr().(*net.TCPAddr)
	fmt.Printf("listening on %s:%d\n", addr.IP, addr.Port)

	go accept(ln)
	<-stop
	ln.Close()
	os.Exit(0)
}

// accept starts a goroutine for every connection until the listener is closed. A transient
// failure (out of file descriptors, a connection reset before it was accepted) is retried after
// a short pause that doubles up to a second, as net/http's server does, rather than spinning.
func accept(ln net.Listener) {
	var pause time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if pause == 0 {
				pause = 5 * time.Millisecond
			} else if pause < time.Second {
				pause *= 2
			}
			fmt.Fprintf(os.Stderr, "go_echo: accept: %v; retrying in %v\n", err, pause)
			time.Sleep(pause)
			continue
		}
		pause = 0
		go serve(c)
	}
}

// serve echoes one connection until the peer closes it or an error ends it: read what has
// arrived, then write all of it (net.Conn's Write returns only once every byte is written or
// the connection failed).
func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, bufBytes)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
