package views

// Problem is one refusal of a form as the error summary lists it: the id
// of the field it belongs to (the summary links to it) and its message.
type Problem struct {
	Field   string
	Message string
}

// Summary is the error summary at the top of a form
// (partials/errorsummary.html, the GOV.UK error-summary pattern): the
// form's refusal that belongs to no field (Heading, then Error), and one
// link per refused field, in the order of the form. The fields themselves
// show their refusal too, tied to the input (partials/fields.html).
type Summary struct {
	Heading  string // e.g. "Your password was not changed."; shown before Error
	Error    string // the refusal that belongs to no field; "" for none
	Problems []Problem
}

// Any reports whether the page shows a refusal: then the summary is
// shown, and the page's title starts with "Error:".
func (s Summary) Any() bool { return s.Error != "" || len(s.Problems) > 0 }

// NewSummary makes a Summary from the heading and error of the form's
// banner and field, message pairs in the order of the form; a pair with an
// empty message (a field that was accepted) is left out.
func NewSummary(heading, err string, fieldMessage ...string) Summary {
	s := Summary{Heading: heading, Error: err}
	for i := 0; i+1 < len(fieldMessage); i += 2 {
		if fieldMessage[i+1] != "" {
			s.Problems = append(s.Problems, Problem{Field: fieldMessage[i], Message: fieldMessage[i+1]})
		}
	}
	return s
}
