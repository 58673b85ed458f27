Console.WriteLine("Hello from Livrable");
