// Package xmltree is the one generic XML tree of the portal: an Element with
// attributes and children, built from a token stream with bounds (depth, and
// a Charger that sees everything a build keeps) and written back as
// namespace-correct XML. The XMPP side sends and reads IQ payloads with it,
// and the XEP-0227 file format (package pie) keeps the data it does not
// interpret in it.
//
// It knows XML only: no XMPP, no XEP-0227, no I/O beyond the readers and
// writers it is given. Names are checked (CheckNames): encoding/xml accepts
// names such as <0/> or <a:0/> that no other parser reads.
package xmltree
