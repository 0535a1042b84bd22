package handlers

import (
	"bytes"
	"net/http"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/xmpp-portal/portal/internal/abuse"
	"github.com/xmpp-portal/portal/internal/captchastore"
)

// captchaBuffers keeps the buffers pictures are written to between
// requests (Blob has written the bytes when the handler returns).
var captchaBuffers sync.Pool

// captcha serves /captcha/<id>.png and /captcha/<id>.wav. Fetching an image
// does not consume the captcha; only a check does.
func (h *Handler) captcha(c echo.Context) error {
	if _, err := h.checkBudget(c, abuse.Captcha); err != nil {
		return err
	}
	file := c.Param("file")
	id, ext, ok := strings.Cut(file, ".")
	if !ok || id == "" || len(id) > 64 {
		return echo.ErrNotFound
	}
	buf, _ := captchaBuffers.Get().(*bytes.Buffer)
	if buf == nil {
		buf = bytes.NewBuffer(make([]byte, 0, 4<<10))
	}
	defer func() {
		if buf.Cap() <= 64<<10 { // a picture; WAV files are larger and rare
			buf.Reset()
			captchaBuffers.Put(buf)
		}
	}()
	var ct string
	switch ext {
	case "png":
		ct = "image/png"
		if err := h.d.Captchas.WriteImage(buf, id, captchastore.ImageWidth, captchastore.ImageHeight); err != nil {
			return echo.ErrNotFound
		}
	case "wav":
		ct = "audio/wav"
		if err := h.d.Captchas.WriteAudio(buf, id, h.lang(c)); err != nil {
			return echo.ErrNotFound
		}
	default:
		return echo.ErrNotFound
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, ct, buf.Bytes())
}
