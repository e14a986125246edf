# Pinned: logging_config on aws_lambda_function and scaling_config on event source mappings need
# a 5.x provider of 2024 or later; 6.x renames attributes this module reads (aws_region.name).
terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }
}
