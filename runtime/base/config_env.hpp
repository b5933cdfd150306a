// config_env: the parsers behind config_from_env(), for settings read elsewhere (the shim's).
#pragma once

namespace weft {

// parse_signal() reads a signal setting (a number, or a name with or without "SIG") for the
// variable name, throwing std::invalid_argument naming it for a bad value; 0 means none.
int parse_signal(const char* name, const char* value);

}  // namespace weft
