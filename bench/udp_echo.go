// A plain Go UDP echo loop for bench/udp.sh: one goroutine, ReadFrom
// and WriteTo, as a Go programmer would first write it.
//
//	udp_echo_go ADDRESS:PORT
package main

import (
	"log"
	"net"
	"os"
)

func main() {
	c, err := net.ListenPacket("udp", os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			log.Fatal(err)
		}
		c.WriteTo(buf[:n], from)
	}
}
