package migrate

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/xmpp-portal/portal/internal/pie"
	"github.com/xmpp-portal/portal/internal/xmppconn"
)

// Errors the web layer tells apart (errors.Is).
var (
	ErrAuth        = xmppconn.ErrAuth        // credentials refused
	ErrUnavailable = xmppconn.ErrUnavailable // server unreachable or gone
	// ErrFile: the uploaded file is not a usable XEP-0227 export.
	ErrFile = errors.New("migrate: the file is not a usable XEP-0227 export")
	// ErrFileTooLarge: the file exceeds the configured size.
	ErrFileTooLarge = errors.New("migrate: the file is too large")
)

// Service is the portal's entry point: exports from its own server,
// imports into accounts on any reachable server.
type Service struct {
	Resolver Resolver
	// MaxImportBytes bounds an uploaded file.
	MaxImportBytes int64
	Log            *slog.Logger
	Export         ExportOptions
}

// OpenExport logs in to local on the portal's own server.
func (s *Service) OpenExport(ctx context.Context, local, password string) (*Export, error) {
	opt := s.Export
	opt.Log = s.Log
	return OpenExport(ctx, s.Resolver.Own, local, password, opt)
}

// ImportRequest says what to import where.
type ImportRequest struct {
	Address, Password string // the new account
	Subscribe         bool
	// OldPassword, when set, publishes the XEP-0283 statement on the old
	// account (the one in the file) and adds <moved/> to the subscription
	// requests.
	OldPassword string
}

// ImportResult is what an import did.
type ImportResult struct {
	Summary  *Summary
	Problems []pie.Problem // skipped while reading the file
	OldJID   string
}

// ParseFile reads an uploaded export (archive counted, not kept).
func (s *Service) ParseFile(r io.Reader) (*pie.Document, *pie.Host, *pie.User, error) {
	max := s.MaxImportBytes
	if max <= 0 {
		max = 50 << 20
	}
	doc, err := pie.Parse(r, pie.Options{MaxBytes: max, SkipArchive: true})
	if err != nil {
		if errors.Is(err, pie.ErrTooLarge) {
			return nil, nil, nil, errors.Join(ErrFileTooLarge, err)
		}
		return nil, nil, nil, errors.Join(ErrFile, err)
	}
	h, u := doc.User()
	if u == nil {
		return nil, nil, nil, errors.Join(ErrFile, errors.New("no user in the file"))
	}
	return doc, h, u, nil
}

// Import restores the first user of doc into req.Address. Errors: ErrAuth
// (new or old account's credentials refused: Which says which),
// ErrUnavailable, ErrBadDomain.
func (s *Service) Import(ctx context.Context, doc *pie.Document, req ImportRequest) (*ImportResult, error) {
	h, u := doc.User()
	if u == nil {
		return nil, ErrFile
	}
	cfg, local, err := s.Resolver.Config(ctx, req.Address)
	if err != nil {
		return nil, err
	}
	res := &ImportResult{Problems: doc.Problems, OldJID: u.Name + "@" + h.JID}
	opt := ImportOptions{Subscribe: req.Subscribe, Log: s.Log}
	var movedErr error
	if req.OldPassword != "" {
		ocfg, olocal, err := s.Resolver.Config(ctx, res.OldJID)
		if err == nil {
			err = PublishMoved(ctx, ocfg, olocal, req.OldPassword, local+"@"+cfg.Domain)
		}
		if err != nil && errors.Is(err, ErrAuth) {
			return nil, &OldAccountError{Err: err}
		}
		movedErr = err
		if err == nil {
			opt.MovedFrom = res.OldJID
		}
	}
	sum, err := Import(ctx, cfg, local, req.Password, u, opt)
	if err != nil {
		return nil, err
	}
	if req.OldPassword != "" {
		o := Outcome{Kind: KindMoved, Item: res.OldJID, OK: movedErr == nil}
		if movedErr != nil {
			o.Reason = reason(movedErr)
		}
		sum.Items = append([]Outcome{o}, sum.Items...)
	}
	res.Summary = sum
	return res, nil
}

// OldAccountError: the old account's password was refused.
type OldAccountError struct{ Err error }

func (e *OldAccountError) Error() string { return "migrate: old account: " + e.Err.Error() }
func (e *OldAccountError) Unwrap() error { return e.Err }
