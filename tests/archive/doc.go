// Package archive holds the tamper matrix of the audit trail (../shared/CONTRACT.md beside this
// repository, "The archive, and `make verify`"): each case starts the whole local API through
// localrun as make run starts it, archiving into a directory of its own and sealing with a key
// file of its own, makes the changes the API can make, tampers with the engine or the archive
// as someone with access to either could, and runs the built cmd/verify against the run, as
// make verify does, expecting its exit code and the problem line that names the record or the
// file. It has only tests.
package archive
