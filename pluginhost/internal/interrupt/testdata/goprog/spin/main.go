// Command spin is a test program for the interrupt package: it never
// ends, and only the interrupt flag can stop it.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("spinning")
	n := 0
	for {
		n++
		if n == len(os.Args)-1000 {
			fmt.Println(n)
		}
	}
}
