// Adds x-as-request to every request and hello: <plugin config> (or
// "world!") to every response, written against @gcoredev/proxy-wasm-sdk-as
// exactly as its README shows. wasmgate's tests load it to check that a
// guest built by someone else's SDK runs on the host unmodified.
export * from "@gcoredev/proxy-wasm-sdk-as/assembly/proxy";
import {
  RootContext,
  Context,
  registerRootContext,
  FilterHeadersStatusValues,
  stream_context,
} from "@gcoredev/proxy-wasm-sdk-as/assembly";

class AddHeaderRoot extends RootContext {
  createContext(context_id: u32): Context {
    return new AddHeader(context_id, this);
  }
}

class AddHeader extends Context {
  constructor(context_id: u32, root_context: AddHeaderRoot) {
    super(context_id, root_context);
  }

  onRequestHeaders(headers: u32, end_of_stream: bool): FilterHeadersStatusValues {
    stream_context.headers.request.add("x-as-request", "seen");
    return FilterHeadersStatusValues.Continue;
  }

  onResponseHeaders(headers: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const config = this.root_context.getConfiguration();
    stream_context.headers.response.add("hello", config == "" ? "world!" : config);
    return FilterHeadersStatusValues.Continue;
  }
}

// The root id is the plugin's name in gateway.toml ([[plugins]] name).
registerRootContext((context_id: u32) => {
  return new AddHeaderRoot(context_id);
}, "as-add-header");
