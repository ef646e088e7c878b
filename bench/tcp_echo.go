// The Go peer of bench/compare.sh: the TCP echo server of the article
// echod grew from, as a Go programmer would first write it -- a
// goroutine per connection, io.Copy (which Go turns into splice(2) on
// Linux) -- differing only in taking its address from the command line.
//
//	tcp_echo_go ADDRESS:PORT
package main

import (
	"io"
	"log"
	"net"
	"os"
)

func main() {
	l, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	for {
		c, err := l.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func(c net.Conn) {
			io.Copy(c, c)
			c.Close()
		}(c)
	}
}
