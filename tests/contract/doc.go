// Package contract holds the tests of the API's contract (../shared/CONTRACT.md beside this
// repository), over real HTTP against the whole local API: its routes under both prefixes, the
// records it answers, the status machine, the file URL, the list, the errors and what hostile
// input gets, tokens and scopes as API Gateway's JWT authorizer reads them, and that one
// organisation never sees another's records. It has only tests.
package contract
