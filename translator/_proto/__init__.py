"""Generated gRPC code of `proto/translator/v1/translator.proto` (make proto). DO NOT EDIT."""
