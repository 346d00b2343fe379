// Package webui holds pgmcp's pages: the result view that MCP Apps hosts
// render for the query and explain tools, and the workbench served at / of
// the HTTP server. Each page is one self-contained HTML document (its
// script and style inline, nothing fetched from anywhere), assembled at
// start from the files embedded here: the view and the workbench share
// one renderer (render.js) and one style sheet. The code is ours, written
// for these pages; no third-party script is embedded.
package webui

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"regexp"
	"strings"
)

//go:embed render.js style.css view.html view.js workbench.html workbench.js
var files embed.FS

// Page is an assembled page and the hashes a Content-Security-Policy
// allows its inline script and style by.
type Page struct {
	HTML string
	// ScriptHash and StyleHash are 'sha256-…' sources of its one inline
	// script and one inline style element.
	ScriptHash, StyleHash string
}

var (
	view      = assemble("view.html", "view.js")
	workbench = assemble("workbench.html", "workbench.js")
)

// View is the MCP Apps result view.
func View() Page { return view }

// Workbench is the browser workbench.
func Workbench() Page { return workbench }

func read(name string) string {
	b, err := files.ReadFile(name)
	if err != nil {
		panic("webui: " + err.Error()) // embedded: cannot happen
	}
	return string(b)
}

var (
	scriptRe = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	styleRe  = regexp.MustCompile(`(?s)<style>(.*?)</style>`)
)

// assemble fills page's placeholders with the shared files and app.
func assemble(page, app string) Page {
	html := strings.NewReplacer(
		"/*{{style}}*/", read("style.css"),
		"/*{{render}}*/", read("render.js"),
		"/*{{app}}*/", read(app),
	).Replace(read(page))
	p := Page{HTML: html}
	if m := scriptRe.FindAllStringSubmatch(html, -1); len(m) == 1 {
		p.ScriptHash = hash(m[0][1])
	}
	if m := styleRe.FindAllStringSubmatch(html, -1); len(m) == 1 {
		p.StyleHash = hash(m[0][1])
	}
	if p.ScriptHash == "" || p.StyleHash == "" {
		panic("webui: " + page + " must hold exactly one <script> and one <style>")
	}
	return p
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// CSP is the Content-Security-Policy of a page served by pgmcp: nothing
// but its own inline script and style (by hash), images from data: and
// blob: URLs (none are made from data today), requests to its own origin
// only, no frames, no forms sent elsewhere, no embedding by other sites.
func (p Page) CSP() string {
	return "default-src 'none'; script-src " + p.ScriptHash + "; style-src " + p.StyleHash +
		"; img-src data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}
