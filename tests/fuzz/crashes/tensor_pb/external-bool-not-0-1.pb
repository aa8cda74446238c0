	Bwj
locationweights.binj
offset16j
lefgth64p