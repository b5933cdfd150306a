// Umbrella header: the whole public API of weft.
#pragma once

#include <weft/blocking.hpp>
#include <weft/channel.hpp>
#include <weft/condition_variable.hpp>
#include <weft/config.hpp>
#include <weft/deadline.hpp>
#include <weft/event.hpp>
#include <weft/fiber.hpp>
#include <weft/fiber_local.hpp>
#include <weft/gather.hpp>
#include <weft/io.hpp>
#include <weft/mutex.hpp>
#include <weft/outcome.hpp>
#include <weft/pool.hpp>
#include <weft/report.hpp>
#include <weft/runtime.hpp>
#include <weft/select.hpp>
#include <weft/semaphore.hpp>
#include <weft/timeout.hpp>
#include <weft/wait_group.hpp>
