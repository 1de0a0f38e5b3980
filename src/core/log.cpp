// The log behind include/imgbuild/core/log.hpp: we format each line (text or JSON) ourselves and let
// spdlog's thread-safe stderr sink write it, so lines from parallel downloads never interleave.

#include "imgbuild/core/log.hpp"

#include <chrono>
#include <memory>

#include <fmt/chrono.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace imgbuild::log {
namespace {

struct State {
    Level level = Level::info;
    Format format = Format::text;
    std::shared_ptr<spdlog::logger> logger = [] {
        auto stderr_logger =
            std::make_shared<spdlog::logger>("imgbuild", std::make_shared<spdlog::sinks::stderr_sink_mt>());
        stderr_logger->set_pattern("%v");
        stderr_logger->set_level(spdlog::level::trace); // filtering is ours, see enabled()
        return stderr_logger;
    }();
};

State& state() {
    static State instance;
    return instance;
}

std::string_view level_name(Level level) {
    switch (level) {
    case Level::trace: return "trace";
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warning";
    case Level::error: return "error";
    case Level::off: break;
    }
    return "off";
}

spdlog::level::level_enum to_spdlog(Level level) {
    switch (level) {
    case Level::trace: return spdlog::level::trace;
    case Level::debug: return spdlog::level::debug;
    case Level::info: return spdlog::level::info;
    case Level::warn: return spdlog::level::warn;
    case Level::error: return spdlog::level::err;
    case Level::off: break;
    }
    return spdlog::level::off;
}

std::string utc_timestamp() {
    auto now = std::chrono::system_clock::now();
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(now)), millis);
}

void emit(Level level, const std::string& line) {
    state().logger->log(to_spdlog(level), line);
    if (level >= Level::warn) state().logger->flush();
}

void emit_json(Level level, std::string_view message, nlohmann::json fields) {
    fields["time"] = utc_timestamp();
    fields["level"] = level_name(level);
    fields["msg"] = message;
    emit(level, fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

} // namespace

void setup(Level level, Format format) {
    state().level = level;
    state().format = format;
}

Level level() { return state().level; }
Format format() { return state().format; }
bool enabled(Level level) { return level != Level::off && level >= state().level; }

void write(Level level, std::string_view message) {
    if (!enabled(level)) return;
    if (state().format == Format::json) {
        emit_json(level, message, nlohmann::json::object());
    } else if (level == Level::info) {
        emit(level, std::string(message));
    } else {
        emit(level, fmt::format("imgbuild: {}: {}", level_name(level), message));
    }
}

void diagnostic(Level level, const Diagnostic& diagnostic) {
    if (!enabled(level)) return;
    if (state().format == Format::json) {
        nlohmann::json fields = {{"file", diagnostic.where.file}};
        if (diagnostic.where.line > 0) fields["line"] = diagnostic.where.line;
        if (diagnostic.where.column > 0) fields["column"] = diagnostic.where.column;
        emit_json(level, diagnostic.message, std::move(fields));
    } else {
        emit(level, diagnostic.str());
    }
}

} // namespace imgbuild::log
