# Small declarative helpers so that each folder's CMakeLists.txt is a list of targets.
#
#   psflow_cc_library(NAME core SRCS status.cc HDRS status.h DEPS Threads::Threads)
#   psflow_cc_test(NAME status_test SRCS status_test.cc DEPS psflow::core)
#   psflow_cc_binary(NAME psflow-inspect SRCS inspect.cc DEPS psflow::checkpoint)
#   psflow_proto_library(NAME proto PROTOS a.proto b.proto)
#
# Libraries are exported as psflow::<NAME>.  Sources are always listed (no GLOB).
include_guard(GLOBAL)

function(psflow_cc_library)
  cmake_parse_arguments(A "" "NAME" "SRCS;HDRS;DEPS" ${ARGN})
  set(target psflow_${A_NAME})
  if(A_SRCS)
    add_library(${target} STATIC ${A_SRCS} ${A_HDRS})
    target_link_libraries(${target} PUBLIC ${A_DEPS})
    target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  else()
    add_library(${target} INTERFACE)
    target_link_libraries(${target} INTERFACE ${A_DEPS})
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  endif()
  add_library(psflow::${A_NAME} ALIAS ${target})
endfunction()

# A GoogleTest binary registered with CTest.  LABELS lets CI pick subsets;
# TIMEOUT bounds every test so that a hang fails instead of blocking CI.
function(psflow_cc_test)
  cmake_parse_arguments(A "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gmock GTest::gtest_main)
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  gtest_discover_tests(${A_NAME}
    PROPERTIES TIMEOUT ${A_TIMEOUT} LABELS "${A_LABELS}"
    DISCOVERY_TIMEOUT 60)
endfunction()

function(psflow_cc_binary)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS})
endfunction()

# Compiles .proto files with protoc into the build tree; generated headers are
# included as "common/proto/foo.pb.h".
function(psflow_proto_library)
  cmake_parse_arguments(A "" "NAME" "PROTOS;DEPS" ${ARGN})
  set(srcs)
  set(hdrs)
  foreach(proto ${A_PROTOS})
    get_filename_component(abs ${proto} ABSOLUTE)
    file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR} ${abs})
    string(REGEX REPLACE "\\.proto$" "" base ${rel})
    set(cc ${PROJECT_BINARY_DIR}/${base}.pb.cc)
    set(h ${PROJECT_BINARY_DIR}/${base}.pb.h)
    add_custom_command(
      OUTPUT ${cc} ${h}
      COMMAND protobuf::protoc --cpp_out=${PROJECT_BINARY_DIR} -I ${PROJECT_SOURCE_DIR} ${abs}
      DEPENDS ${abs} protobuf::protoc
      COMMENT "protoc ${rel}"
      VERBATIM)
    list(APPEND srcs ${cc})
    list(APPEND hdrs ${h})
  endforeach()
  psflow_cc_library(NAME ${A_NAME} SRCS ${srcs} HDRS ${hdrs} DEPS protobuf::libprotobuf ${A_DEPS})
  # Generated code is not ours to keep warning-free.
  target_compile_options(psflow_${A_NAME} PRIVATE -w)
endfunction()

# A binary that loads model_fn plugins (model.type: plugin): it exports its
# symbols (-rdynamic) and links the whole of the libraries a model_fn may
# use, so that a plugin built against psflow's headers finds every function
# it calls in the binary.
function(psflow_plugin_host target)
  set_target_properties(${target} PROPERTIES ENABLE_EXPORTS ON)
  set(whole)
  foreach(lib core graph ops runtime train data)
    list(APPEND whole $<TARGET_FILE:psflow_${lib}>)
  endforeach()
  target_link_libraries(${target} PRIVATE -Wl,--whole-archive ${whole} -Wl,--no-whole-archive)
endfunction()

# A model_fn plugin: a shared module built against psflow's headers and
# resolved against the binary that loads it.
function(psflow_model_plugin)
  cmake_parse_arguments(A "" "NAME" "SRCS" ${ARGN})
  add_library(${A_NAME} MODULE ${A_SRCS})
  target_include_directories(${A_NAME} PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_include_directories(${A_NAME} SYSTEM PRIVATE $<TARGET_PROPERTY:Eigen3::Eigen,INTERFACE_INCLUDE_DIRECTORIES>)
  add_dependencies(${A_NAME} psflow_train)
endfunction()
