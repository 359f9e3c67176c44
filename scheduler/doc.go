// Package scheduler is Keel's priority request scheduler: every REST call of every adapter
// goes through one Scheduler per exchange account. It knows no exchange; adapters describe each
// call as a Request (bucket, priority, costs against limit windows, whether it writes, its
// idempotency key, its time budget, and the function that performs one attempt).
package scheduler
