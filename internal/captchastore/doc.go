// Package captchastore keeps github.com/dchest/captcha answers in a
// store.Store (memory or Redis), so captchas are single use across every
// portal instance sharing the store.
//
// Captchas (NewCaptchas) is what handlers use: New, WriteImage, WriteAudio
// and Verify, with no package-level state (no captcha.SetCustomStore). Verify
// deletes the answer at the first check, right or wrong (GetDel), and returns
// an error wrapping store.ErrUnavailable when the store cannot be reached, so
// the web layer can answer 503 instead of "wrong captcha".
//
// Nothing here reveals an answer: no method returns the digits of a
// captcha. Tests and benchmarks that must solve captchas read them from the
// store they own (testenv.CaptchaAnswer), in the format below.
//
// Answers are stored as ASCII digits under "captcha:"+id (inside the store's
// own prefix) with a TTL of ten minutes by default.
package captchastore
