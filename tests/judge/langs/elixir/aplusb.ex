# Kattis's style: a compiled module with main/0 (not named after the file).
defmodule Solution do
  def main do
    [a, b] = IO.read(:line) |> String.split() |> Enum.map(&String.to_integer/1)
    IO.puts(a + b)
  end
end
