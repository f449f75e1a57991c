#import <Foundation/Foundation.h>
int main(void) {
    NSAutoreleasePool *pool = [[NSAutoreleasePool alloc] init];
    NSString *s = [NSString stringWithFormat:@"%@, %@!", @"Hello", @"World"];
    printf("%s\n", [s UTF8String]);
    [pool drain];
    return 0;
}
