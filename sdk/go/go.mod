module github.com/wasmgate/wasmgate/sdk/go

go 1.24
