package sim_test

import (
	"flag"
	"fmt"
	"io"
	"net/http"

	"github.com/keelbot/keel/adapters/sim"
)

// The signature of rest-api.md's worked example, byte for byte.
func ExampleSignHMAC() {
	fmt.Println(sim.SignHMAC(
		"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
		"symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"))
	// Output: c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71
}

func ExampleServer() {
	s, err := sim.New(sim.Config{Seed: 1})
	if err != nil {
		panic(err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		panic(err)
	}
	defer s.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr}).Get(s.URL() + "/api/v3/ping")
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	fmt.Println(res.StatusCode, string(body), res.Header.Get("X-MBX-USED-WEIGHT-1M"))
	// Output: 200 {} 1
}

// A bad --time-scale fails while the flags are parsed, and the error names the flag.
func ExampleTimeScaleFlag() {
	fs := flag.NewFlagSet("keel sim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	scale := sim.TimeScaleFlag(1)
	fs.Var(&scale, "time-scale", "run windows and bans this many times faster")
	fmt.Println(fs.Parse([]string{"--time-scale", "NaN"}))
	fmt.Println(fs.Parse([]string{"--time-scale", "0"}))
	fmt.Println(fs.Parse([]string{"--time-scale", "60"}), scale.String())
	// Output:
	// invalid value "NaN" for flag -time-scale: want a finite number
	// invalid value "0" for flag -time-scale: want a number > 0 (1 is real time, 60 makes a minute last a second)
	// <nil> 60
}
