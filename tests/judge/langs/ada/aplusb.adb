--  The unit is not named after the file: the judge splits it with gnatchop.
with Ada.Text_IO; with Ada.Long_Long_Integer_Text_IO;
procedure Solution is
   A, B : Long_Long_Integer;
begin
   Ada.Long_Long_Integer_Text_IO.Get (A);
   Ada.Long_Long_Integer_Text_IO.Get (B);
   Ada.Text_IO.Put_Line (Long_Long_Integer'Image (A + B) (2 .. Long_Long_Integer'Image (A + B)'Last));
end Solution;
