# Pinned: logging_config on aws_lambda_function (5.32.0) and scaling_config on event source
# mappings need a 5.x provider of 2024 or later. 6.x deprecates what this module uses with 5.x
# meanings: the `name` of data.aws_region (now `region`) and the `region` of
# aws_cloudformation_stack_set_instance (the target region is `stack_set_instance_region` there).
terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }
}
