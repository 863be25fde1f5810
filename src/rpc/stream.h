// Kept so that code written against the former Stream header still finds the TLS context builders;
// byte streams are now rpc/network.h, their TCP and TLS implementation rpc/tcp_network.h.
#pragma once

#include "rpc/tcp_network.h"
