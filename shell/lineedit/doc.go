// Package lineedit is a small terminal line editor for a Cisco-IOS-style
// configuration shell.
//
// It is written for terminals we know nothing about (SSH clients, serial
// consoles, expect/netmiko-style automation):
//
//   - it never queries the terminal (no cursor-position report, no terminfo);
//   - it uses only CR, LF, BS, "ESC[K" (erase to end of line), "ESC[nD" and
//     "ESC[nC" (cursor left/right), and "ESC[H ESC[2J" for Ctrl-L;
//   - with TERM=dumb it writes no escape sequence at all: cursor moves are
//     backspaces or rewritten characters, erasing is spaces + backspaces;
//   - typing at the end of the line echoes exactly the typed characters, so
//     a pasted command is echoed verbatim (no prompt repainting per key);
//   - lines wider than the terminal scroll horizontally inside the line, with
//     a '$' marking hidden text on the left and/or right (as IOS does).
//
// Input is read through one buffered reader owned by the Editor, so bytes
// typed ahead or pasted (many lines at once) are kept between ReadLine calls
// and between ReadLine and the pager.
//
// Raw mode is entered only while ReadLine (or the pager's key wait) runs and
// only when the input is a terminal; otherwise the bytes are interpreted the
// same way but the terminal mode is not touched. A shell reading commands
// from a pipe should not use the Editor at all (read lines with bufio).
package lineedit
