//go:build !race

package fanlog_test

const raceEnabled = false
