package manifest

import "unicode/utf8"

// startsFormula reports whether a spreadsheet would read s as a formula:
// it starts with = + - @, a tab, CR or LF, or a full-width = + - @.
func startsFormula(s string) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r', '\n':
		return true
	}
	r, _ := utf8.DecodeRuneInString(s)
	return r == '\uff1d' || r == '\uff0b' || r == '\uff0d' || r == '\uff20'
}

// DefuseFormula guards a CSV field against CSV injection: a field a
// spreadsheet would read as a formula gets a leading apostrophe. The
// reports imgbatch writes use it; the manifest reader undoes it in version
// ids (unquoteFormula), so that a failed.csv reads back as its manifest.
func DefuseFormula(s string) string {
	if startsFormula(s) {
		return "'" + s
	}
	return s
}

// unquoteFormula undoes DefuseFormula. No S3 version id starts with an
// apostrophe.
func unquoteFormula(s string) string {
	if len(s) > 1 && s[0] == '\'' && startsFormula(s[1:]) {
		return s[1:]
	}
	return s
}
