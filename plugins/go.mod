module github.com/wasmgate/wasmgate/plugins

go 1.24

require github.com/wasmgate/wasmgate/sdk/go v0.0.0

replace github.com/wasmgate/wasmgate/sdk/go => ../sdk/go
