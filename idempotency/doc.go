// Package idempotency is under construction; see DESIGN.md.
package idempotency
