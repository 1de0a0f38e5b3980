# Warnings and sanitizers for every target of ours, through one INTERFACE target.
# Not: GCC 12 reports false positives inside libstdc++'s std::string moves at -O2
# (GCC bugs 105580, 106238), which -Werror in CI would turn into failures.
add_library(imgbuild_warnings INTERFACE)
target_compile_options(imgbuild_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
  -Wold-style-cast -Woverloaded-virtual -Wimplicit-fallthrough -Wno-missing-field-initializers
  $<$<BOOL:${IMGBUILD_WERROR}>:-Werror>)

if(IMGBUILD_SANITIZE)
  list(JOIN IMGBUILD_SANITIZE "," _sanitizers)
  target_compile_options(imgbuild_warnings INTERFACE -fsanitize=${_sanitizers} -fno-omit-frame-pointer)
  target_link_options(imgbuild_warnings INTERFACE -fsanitize=${_sanitizers})
endif()
