// Package chaos holds tests that treat the imi binary as a black box and
// break what is around it: durability_test.go runs 64 concurrent API
// writers against `imi serve`, kills the server with SIGKILL many times,
// and checks after each kill, through the API and in the database itself,
// that every acknowledged write is there whole and that retried writes
// happened once. The tests are skipped under -short.
package chaos
