// Command portal runs the XMPP account portal.
package main

import (
	"os"

	"github.com/xmpp-portal/portal/internal/app"
)

func main() {
	os.Exit(app.Main(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}
