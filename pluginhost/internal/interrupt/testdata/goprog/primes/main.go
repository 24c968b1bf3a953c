// Command primes is a test program for the interrupt package: built for
// wasip1, it must print the same thing with and without instrumentation.
// It uses goroutines, channels and maps so that the Go runtime's
// scheduler, allocator and garbage collector run in the module too.
package main

import (
	"fmt"
	"sort"
	"strings"
)

// generate sends 2, 3, 4, ... to ch.
func generate(ch chan<- int) {
	for i := 2; ; i++ {
		ch <- i
	}
}

// filter passes on the values not divisible by prime.
func filter(in <-chan int, out chan<- int, prime int) {
	for {
		if i := <-in; i%prime != 0 {
			out <- i
		}
	}
}

func main() {
	// The concurrent prime sieve: one goroutine per prime found.
	ch := make(chan int)
	go generate(ch)
	var primes []int
	for i := 0; i < 300; i++ {
		prime := <-ch
		primes = append(primes, prime)
		next := make(chan int)
		go filter(ch, next, prime)
		ch = next
	}
	var b strings.Builder
	for i, p := range primes {
		if i%20 == 0 && i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%d ", p)
	}
	fmt.Println(b.String())

	// Last digits, counted in a map and printed in order.
	digits := map[int]int{}
	for _, p := range primes {
		digits[p%10]++
	}
	keys := make([]int, 0, len(digits))
	for d := range digits {
		keys = append(keys, d)
	}
	sort.Ints(keys)
	for _, d := range keys {
		fmt.Printf("ending in %d: %d\n", d, digits[d])
	}

	// Some garbage, for the collector.
	words := map[string][]byte{}
	for i := 0; i < 20000; i++ {
		k := fmt.Sprintf("k%d", i%500)
		words[k] = append(words[k][:0], make([]byte, 64+i%256)...)
	}
	fmt.Println("keys:", len(words))
}
