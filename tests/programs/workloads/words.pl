#!/usr/bin/perl
# A hash-, regex- and string-heavy Perl workload with a deterministic output:
# generates text, counts words and bigrams in hashes, rewrites it with
# substitutions and prints checksums. Keys are always sorted, so Perl's
# randomized hash order never reaches the output.
use strict;
use warnings;
use Digest::MD5 qw(md5_hex);

my $state = 12345;
sub rnd { $state = ($state * 1103515245 + 12345) % 2147483648; return $state >> 8; }

my @syll = qw(ka lo mi nu pe ra si to vu xe za bo);
my @words = map { my $n = 1 + rnd() % 4; join('', map { $syll[rnd() % @syll] } 1 .. $n) } 1 .. 3000;

my @lines;
for my $i (1 .. 20000) {
    my $n = 3 + rnd() % 12;
    push @lines, join(' ', map { $words[rnd() % @words] } 1 .. $n) . ($i % 7 ? '.' : '!');
}
print "lines ", scalar(@lines), " ", md5_hex(join("\n", @lines)), "\n";

my (%count, %bigram, %len);
for my $line (@lines) {
    my @w = ($line =~ /(\w+)/g);
    $count{$_}++ for @w;
    $bigram{"$w[$_-1] $w[$_]"}++ for 1 .. $#w;
    push @{ $len{length $_} }, $_ for @w;
}
my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 4];
print "words ", scalar(keys %count), " top @top\n";
print "bigrams ", scalar(keys %bigram), " ", md5_hex(join(',', map { "$_=$bigram{$_}" } sort keys %bigram)), "\n";
print "lengths ", join(' ', map { "$_:" . scalar(@{ $len{$_} }) } sort { $a <=> $b } keys %len), "\n";

my $text = join("\n", @lines);
(my $shout = $text) =~ s/\b(\w)(\w*)\b/\U$1\E$2/g;
my $subs = ($text =~ s/(ka|mi)(?=[a-z])/<$1>/g);
my @sentences = split /[.!]\n?/, $shout;
print "rewrite $subs ", scalar(@sentences), " ", md5_hex($shout), " ", md5_hex($text), "\n";

my %index;
for my $i (0 .. $#lines) {
    for my $w (split ' ', $lines[$i]) {
        $w =~ s/[.!]$//;
        $index{$w}{$i} = 1;
    }
}
my $postings = 0;
$postings += scalar(keys %{ $index{$_} }) for keys %index;
print "index ", scalar(keys %index), " $postings\n";
printf STDERR "warning-like line %d\n", $postings % 1000;
exit 4;
