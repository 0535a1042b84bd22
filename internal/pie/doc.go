// Package pie reads and writes XEP-0227 "Portable Import/Export" documents
// (urn:xmpp:pie:0): the file format of the portal's account export and
// import. It does no networking.
//
// Writer streams a document element by element to an io.Writer, so an
// archive of any size passes through in flat memory. A document is complete
// only after Writer.Close: an export that breaks half way leaves the
// <server-data/> element unclosed, and every XML parser rejects the file.
//
// What goes where, under <user/> and in this order:
//
//   - <offline-messages/> first (the XEP's schema requires it there);
//   - the roster as a jabber:iq:roster query;
//   - vcard-temp as <vCard xmlns='vcard-temp'/>;
//   - private XML (XEP-0049) as a jabber:iq:private query;
//   - privacy lists (XEP-0016) as a jabber:iq:privacy query. XEP-0227 has no
//     element for the XEP-0191 blocklist; it is written the standard way, as
//     XEP-0191 §5 maps it and as ejabberd exports it: a default privacy list
//     named "blocklist" with one jid/deny item per blocked address
//     (BlocklistPrivacy). No extra namespace is invented, so other importers
//     (ejabberd's import_piefxis) understand it;
//   - pending inbound subscriptions as <presence type='subscribe'/>;
//   - one pubsub#owner element with a <configure/> form for every PEP node
//     (vCard4, avatar data and metadata, nickname, XEP-0402 bookmarks, …),
//     then one pubsub element with the items of every node;
//   - the message archive as <archive xmlns='urn:xmpp:pie:0#mam'/> holding
//     XEP-0313 <result/> elements, oldest first, each with a delay stamp and
//     a jabber:client message.
//
// Passwords and SCRAM credentials are never written, and ignored on reading.
//
// Parse treats its input as untrusted: the document, every token and the
// element count are size limited, nesting is depth limited, DTDs, entity
// declarations, processing instructions and encodings other than UTF-8 are
// refused (so no external or expanding entities). Items with invalid
// addresses and other unusable data are skipped and listed in
// Document.Problems; data in unknown namespaces is kept (User.Extra).
//
// Writing a parsed document gives the same bytes as the document the Writer
// produced in the first place (tested).
package pie
