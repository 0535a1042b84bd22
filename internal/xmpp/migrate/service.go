package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/xmpp-portal/portal/internal/pie"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// Errors of the uploaded file the web layer tells apart (errors.Is).
// XMPP failures are *xmpp.Error values, asked with errors.Is(err,
// xmpp.Auth), errors.Is(err, xmpp.Unavailable) or xmpp.KindOf.
var (
	// ErrFile: the uploaded file is not a usable XEP-0227 export.
	ErrFile = errors.New("migrate: the file is not a usable XEP-0227 export")
	// ErrFileTooLarge: the file exceeds the configured size, or holds
	// more than the import limits take (then the error is a *LimitError).
	ErrFileTooLarge = errors.New("migrate: the file is too large")
)

// Default import limits (Service.Limits fields left zero). What an import
// keeps in memory is bounded by them, whatever the size of the file: about
// DefaultMaxElements elements and DefaultMaxDataBytes bytes of the user's
// data besides the archive, which is only counted.
const (
	DefaultMaxContacts  = 5000
	DefaultMaxBlocked   = 5000
	DefaultMaxNodes     = 200
	DefaultMaxNodeItems = 1000
	DefaultMaxElements  = 60_000
	DefaultMaxDataBytes = 16 << 20
	defaultMaxOffline   = 1000
	defaultMaxSubs      = 1000
)

// Limits bound one import (see the Default constants).
type Limits struct {
	Contacts  int   // roster items
	Blocked   int   // blocklist and privacy rules
	Nodes     int   // PEP nodes and private XML elements
	NodeItems int   // items of one PEP node
	Elements  int   // elements kept, all kinds together
	DataBytes int64 // bytes kept, all kinds together
}

func (l Limits) pie() pie.Limits {
	def := func(v, d int) int {
		if v <= 0 {
			return d
		}
		return v
	}
	b := l.DataBytes
	if b <= 0 {
		b = DefaultMaxDataBytes
	}
	return pie.Limits{
		Elements: def(l.Elements, DefaultMaxElements), Bytes: b,
		Contacts: def(l.Contacts, DefaultMaxContacts), Blocked: def(l.Blocked, DefaultMaxBlocked),
		Nodes: def(l.Nodes, DefaultMaxNodes), NodeItems: def(l.NodeItems, DefaultMaxNodeItems),
		Offline: defaultMaxOffline, Subscriptions: defaultMaxSubs,
	}
}

// Kinds of LimitError, as the web layer names them.
const (
	LimitData      = pie.LimitData
	LimitContacts  = pie.LimitContacts
	LimitBlocked   = pie.LimitBlocked
	LimitNodes     = pie.LimitNodes
	LimitNodeItems = pie.LimitNodeItems
	LimitOffline   = pie.LimitOffline
	LimitSubs      = pie.LimitSubscriptions
)

// LimitError: the file holds more of one kind than Limits take. It
// matches ErrFileTooLarge.
type LimitError struct {
	Kind string // LimitContacts, ...
	Max  int64
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("migrate: the file holds more %s than the limit of %d", e.Kind, e.Max)
}

// Is matches ErrFileTooLarge.
func (e *LimitError) Is(target error) bool { return target == ErrFileTooLarge }

// UsersError: the file holds several users and none has the name of the
// account imported into. It matches ErrFile.
type UsersError struct {
	Users []string // name@host, at most 100
	Count int
}

func (e *UsersError) Error() string {
	return fmt.Sprintf("migrate: the file holds %d users and none is the target account", e.Count)
}

// Is matches ErrFile.
func (e *UsersError) Is(target error) bool { return target == ErrFile }

// Kinds of FileError: what an uploaded file holds instead of one account's
// export.
const (
	FileEmpty     = pie.FormatEmpty     // nothing
	FileRoot      = pie.FormatRoot      // XML whose root is another element (Found)
	FileTruncated = pie.FormatTruncated // an export that ends early (interrupted)
	FileSyntax    = pie.FormatSyntax    // not well-formed XML (Line)
	FileIndex     = "index"             // the index of a server's export: its data is in Files
	FileNoUser    = "no_user"           // an export without any account
)

// FileError says what an uploaded file holds instead of a usable export,
// so that the refusal can say what was found. It matches ErrFile.
type FileError struct {
	Kind  string
	Found string   // FileRoot: the root element, as <name xmlns='…'>, shortened
	Line  int      // FileSyntax, FileTruncated: the line the XML reader stopped at (0: unknown)
	Files []string // FileIndex: the files the index names (base names, shortened)
	err   error
}

func (e *FileError) Error() string {
	if e.Kind == FileIndex {
		return fmt.Sprintf("migrate: the file is the index of a server export, naming %d files", len(e.Files))
	}
	if e.Kind == FileNoUser {
		return "migrate: the file holds no account"
	}
	return "migrate: " + e.err.Error()
}

// Is matches ErrFile.
func (e *FileError) Is(target error) bool { return target == ErrFile }

// Service is the portal's entry point: exports from its own server,
// imports into accounts on any reachable server.
type Service struct {
	Resolver Resolver
	// MaxImportBytes bounds an uploaded file.
	MaxImportBytes int64
	// Limits bound what one import keeps and writes.
	Limits Limits
	Log    *slog.Logger
	Export ExportOptions
}

// OpenExport logs in to local on the portal's own server: the one login
// of an export (see OpenExport).
func (s *Service) OpenExport(ctx context.Context, local, password string) (*Export, error) {
	opt := s.Export
	opt.Log = s.Log
	return OpenExport(ctx, s.Resolver.Own, local, password, opt)
}

// Upload is an export file read for one import: the one user whose data
// is restored. The web layer passes it on without looking inside.
type Upload struct {
	host     *pie.Host
	user     *pie.User
	problems []pie.Problem
}

// Owner is the address of the account the file was exported from, as the
// file spells it (name@host).
func (u *Upload) Owner() string { return u.user.Name + "@" + u.host.JID }

// ArchiveCount is the number of archived messages in the file (counted,
// never imported).
func (u *Upload) ArchiveCount() int { return u.user.ArchiveCount }

// ReadUpload reads an uploaded export as a stream, keeping at most what
// Limits allow (the archive is counted, not kept). Of a file with several
// users it keeps the one for which match (the name of the account imported
// into) is true; several users and none matching is a *UsersError.
// Errors match ErrFile or ErrFileTooLarge (*LimitError for the per-kind
// limits).
func (s *Service) ReadUpload(r io.Reader, match func(name string) bool) (*Upload, error) {
	max := s.MaxImportBytes
	if max <= 0 {
		max = 50 << 20
	}
	doc, err := pie.Parse(r, pie.Options{MaxBytes: max, SkipArchive: true, Keep: s.Limits.pie(),
		Match: func(_, name string) bool { return match != nil && match(name) }})
	if err != nil {
		var le *pie.LimitError
		var fe *pie.FormatError
		switch {
		case errors.As(err, &le):
			return nil, &LimitError{Kind: le.Kind, Max: le.Max}
		case errors.Is(err, pie.ErrTooLarge):
			return nil, errors.Join(ErrFileTooLarge, err)
		case errors.As(err, &fe):
			return nil, &FileError{Kind: fe.Kind, Found: fe.Found, Line: fe.Line, err: err}
		}
		return nil, errors.Join(ErrFile, err)
	}
	h, u := doc.User()
	if u == nil {
		if len(doc.Includes) > 0 {
			return nil, &FileError{Kind: FileIndex, Files: doc.Includes}
		}
		return nil, &FileError{Kind: FileNoUser}
	}
	if doc.UserCount > 1 && (match == nil || !match(u.Name)) {
		return nil, &UsersError{Users: doc.Users, Count: doc.UserCount}
	}
	return &Upload{host: h, user: u, problems: doc.Problems}, nil
}

// Session is a logged-in account that an import or a moved statement is
// written to: the one login of the flow on that account, whose connection
// every request of the import (or the moved statement) uses.
type Session struct {
	c    *xmpp.Conn
	addr string
	log  *slog.Logger
}

// Login logs in to address (a normalised bare address, on the portal's
// server or another one) with password. Errors are ErrBadDomain or
// *xmpp.Error values: errors.Is(err, xmpp.Auth) for refused credentials,
// xmpp.Unavailable when the server cannot be reached (ErrNotPublic
// included).
func (s *Service) Login(ctx context.Context, address, password string) (*Session, error) {
	cfg, local, err := s.Resolver.Config(ctx, address)
	if err != nil {
		return nil, err
	}
	c, err := xmpp.Login(ctx, cfg, local, password, nil)
	if err != nil {
		return nil, err
	}
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Session{c: c, addr: local + "@" + cfg.Domain, log: log}, nil
}

// Close ends the session's connection.
func (se *Session) Close() error { return se.c.Close() }

// Address is the account's bare address.
func (se *Session) Address() string { return se.addr }

// PublishMoved publishes the XEP-0283 statement that this (old) account
// moved to newJID.
func (se *Session) PublishMoved(ctx context.Context, newJID string) error {
	return publishMoved(ctx, se.c, newJID)
}

// ImportResult is what an import did.
type ImportResult struct {
	Summary  *Summary
	Problems []pie.Problem // skipped while reading the file
}

// Import restores the upload into this account. movedFrom, when set (the
// old address, whose moved statement was published), adds the XEP-0283
// notice to the subscription requests. Everything that fails is in the
// summary.
func (se *Session) Import(ctx context.Context, up *Upload, opt ImportOptions) *ImportResult {
	if opt.Log == nil {
		opt.Log = se.log
	}
	sum := &Summary{}
	newImporter(se.c, sum, opt).run(ctx, up.user)
	return &ImportResult{Summary: sum, Problems: up.problems}
}
