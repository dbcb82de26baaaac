// Package lokv1 holds the Go types of proto/lok/v1/events.proto, generated at
// build time by `go generate ./...` and not committed.
//
// The first directive builds protoc-gen-go at the version of
// google.golang.org/protobuf in go.mod, so the generated code always matches
// its runtime; the second runs protoc (Debian's protobuf-compiler) with it.
package lokv1

//go:generate go build -o ../../bin/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go
//go:generate protoc --plugin=protoc-gen-go=../../bin/protoc-gen-go --proto_path=../../../../proto --go_out=. --go_opt=module=example.com/lok-publisher/internal/lokv1 --go_opt=Mlok/v1/events.proto=example.com/lok-publisher/internal/lokv1 lok/v1/events.proto
