// The `hallmark` command-line tool. All logic lives in wallet-cli/commands.cpp.
#include <iostream>

#include "wallet-cli/commands.h"

int main(int argc, char** argv) {
  return hallmark::wallet::Main(argc, argv, std::cout, std::cerr);
}
