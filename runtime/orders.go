package runtime

import "errors"

// provideOrders wires the orders manager into the main loop. (Being built: orders/.)
func provideOrders() (OrderService, error) {
	return nil, errors.New("runtime: orders manager not wired yet")
}
