Bwj
locationweights.binj
offset16j
length64p