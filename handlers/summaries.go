package handlers

import "github.com/xmpp-portal/portal/views"

// The error summaries of the account forms (partials/errorsummary.html):
// the form's refusal that belongs to no field, under heading (the page's
// translated "… was not …" line), and each refused field in the order of
// the form. A template calls them as (.Data.Summary (t "password.failed")).

func (p passwordPage) Summary(heading string) views.Summary {
	return views.NewSummary(heading, p.Error, "address", p.AddressError, "current", p.CurrentError, "password", p.NewError)
}

func (p deletePage) Summary(heading string) views.Summary {
	return views.NewSummary(heading, p.Error, "address", p.AddressError, "password", p.PasswordError,
		"confirm", p.ConfirmError, "understand", p.CheckError)
}

func (p exportPage) Summary(heading string) views.Summary {
	return views.NewSummary(heading, p.Error, "address", p.AddressError)
}

func (p importPage) Summary(heading string) views.Summary {
	return views.NewSummary(heading, p.Error, "address", p.AddressError, "file", p.FileError)
}
