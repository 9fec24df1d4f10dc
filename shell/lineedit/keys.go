package lineedit

import (
	"bufio"
	"unicode/utf8"
)

// keyCode names the keys that arrive as escape sequences (or are otherwise
// special). keyRune means the key is the rune in key.r, which may be a
// control character.
type keyCode int

const (
	keyRune keyCode = iota
	keyIgnore
	keyUp
	keyDown
	keyLeft
	keyRight
	keyHome
	keyEnd
	keyDelete
	keyWordLeft
	keyWordRight
	keyDeleteWordRight
	keyDeleteWordLeft
)

type key struct {
	code keyCode
	r    rune
}

// Control characters used by the editor.
const (
	ctrlA     = 0x01
	ctrlB     = 0x02
	ctrlC     = 0x03
	ctrlD     = 0x04
	ctrlE     = 0x05
	ctrlF     = 0x06
	ctrlH     = 0x08
	tab       = 0x09
	lf        = 0x0a
	ctrlK     = 0x0b
	ctrlL     = 0x0c
	cr        = 0x0d
	ctrlN     = 0x0e
	ctrlP     = 0x10
	ctrlR     = 0x12
	ctrlT     = 0x14
	ctrlU     = 0x15
	ctrlV     = 0x16
	ctrlW     = 0x17
	ctrlX     = 0x18
	ctrlY     = 0x19
	ctrlZ     = 0x1a
	esc       = 0x1b
	del       = 0x7f
	maxCSILen = 32
)

// keyReader decodes keys from a buffered byte stream. It keeps the
// "a CR was just seen" state so that a CR LF pair (telnet, some terminals,
// pasted DOS text) counts as a single Enter, and telnet's CR NUL too.
type keyReader struct {
	r      *bufio.Reader
	skipLF bool
}

// readKey blocks until one complete key is available.
func (k *keyReader) readKey() (key, error) {
	for {
		b, err := k.r.ReadByte()
		if err != nil {
			return key{}, err
		}
		skip := k.skipLF
		k.skipLF = false
		if (skip && b == lf) || b == 0 {
			continue
		}
		switch {
		case b == cr:
			k.skipLF = true
			return key{r: cr}, nil
		case b == esc:
			return k.readEscape()
		case b < utf8.RuneSelf:
			return key{r: rune(b)}, nil
		}
		if err := k.r.UnreadByte(); err != nil {
			return key{}, err
		}
		r, _, err := k.r.ReadRune()
		if err != nil {
			return key{}, err
		}
		return key{r: r}, nil
	}
}

// readEscape decodes what follows an ESC: CSI ("ESC [") and SS3 ("ESC O")
// sequences for cursor keys, and the IOS/emacs Esc-letter commands.
// Unknown sequences are consumed and ignored. A lone ESC waits for the next
// byte (no timeouts: Esc is a prefix key, as on IOS).
func (k *keyReader) readEscape() (key, error) {
	b, err := k.r.ReadByte()
	if err != nil {
		return key{}, err
	}
	switch b {
	case '[':
		return k.readCSI()
	case 'O':
		f, err := k.r.ReadByte()
		if err != nil {
			return key{}, err
		}
		return key{code: finalKey(f, nil)}, nil
	case 'b', 'B':
		return key{code: keyWordLeft}, nil
	case 'f', 'F':
		return key{code: keyWordRight}, nil
	case 'd', 'D':
		return key{code: keyDeleteWordRight}, nil
	case del, ctrlH:
		return key{code: keyDeleteWordLeft}, nil
	case esc:
		// ESC ESC: drop the first, decode the second as a new prefix.
		return k.readEscape()
	}
	// Unknown Esc-x: ignore the Esc, deliver x as an ordinary key.
	if err := k.r.UnreadByte(); err != nil {
		return key{}, err
	}
	return key{code: keyIgnore}, nil
}

func (k *keyReader) readCSI() (key, error) {
	var params []byte
	for i := 0; ; i++ {
		b, err := k.r.ReadByte()
		if err != nil {
			return key{}, err
		}
		if b >= 0x40 && b <= 0x7e {
			return key{code: finalKey(b, params)}, nil
		}
		if b < 0x20 || i >= maxCSILen {
			// Not a well-formed CSI sequence: give the byte back and drop the
			// prefix, so a control key typed after a broken sequence works.
			if err := k.r.UnreadByte(); err != nil {
				return key{}, err
			}
			return key{code: keyIgnore}, nil
		}
		params = append(params, b)
	}
}

// finalKey maps the final byte (and parameters) of a CSI or SS3 sequence.
func finalKey(final byte, params []byte) keyCode {
	p := string(params)
	mod := ""
	if i := indexByte(params, ';'); i >= 0 {
		p, mod = string(params[:i]), string(params[i+1:])
	}
	word := mod == "3" || mod == "5" // Alt or Ctrl with an arrow
	switch final {
	case 'A':
		return keyUp
	case 'B':
		return keyDown
	case 'C':
		if word {
			return keyWordRight
		}
		return keyRight
	case 'D':
		if word {
			return keyWordLeft
		}
		return keyLeft
	case 'H':
		return keyHome
	case 'F':
		return keyEnd
	case '~':
		switch p {
		case "1", "7":
			return keyHome
		case "4", "8":
			return keyEnd
		case "3":
			return keyDelete
		}
	}
	return keyIgnore
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
