module github.com/wasmgate/wasmgate/plugins

go 1.26.0

require github.com/wasmgate/wasmgate/sdk/go v0.0.0

require golang.org/x/crypto v0.59.0

replace github.com/wasmgate/wasmgate/sdk/go => ../sdk/go
