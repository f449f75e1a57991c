a, b = gets.not_nil!.split.map(&.to_i64)
puts a + b
